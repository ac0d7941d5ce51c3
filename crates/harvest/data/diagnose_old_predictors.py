"""Why the pre-issue-13 predictors failed on PVDAQ system 50: the paper's WCMA and the old
clear-sky-index predictor (ported from predict.rs as it was before issue 13), with one mechanism
changed at a time.

Usage: python3 diagnose_old_predictors.py TRACE SLOT_MINUTES CLIP RATIO_FLOOR [dst]
  CLIP         values above it are clipped (0: none); the old default was 1500
  RATIO_FLOOR  ratio terms skip references at or below this fraction of the peak (0: as published)
  dst          undo US daylight saving first (move Mar-Nov values one hour earlier)
Example: python3 diagnose_old_predictors.py pvdaq_system50_ac_power_15min.csv 30 1500 0
Needs numpy. MAPE counts slots above 10 % of the (clipped) peak, as the old scoring did.
"""
import csv, sys, datetime as dt
import numpy as np

DST = [(dt.date(y, 3, 8) + dt.timedelta(days=(6 - dt.date(y, 3, 8).weekday()) % 7),
        dt.date(y, 11, 1) + dt.timedelta(days=(6 - dt.date(y, 11, 1).weekday()) % 7))
       for y in range(2000, 2030)]  # second Sunday of March .. first Sunday of November

def load(path, slot_min, clip, undo_dst=False):
    rows = list(csv.reader(open(path)))[1:]
    if undo_dst:
        by_time = {t: v for t, v in rows}
        def earlier(t):
            T = dt.datetime.fromisoformat(t)
            if any(a <= T.date() < b for a, b in DST):
                return by_time.get((T + dt.timedelta(hours=1)).strftime('%Y-%m-%dT%H:%M'), '')
            return by_time[t]
        rows = [(t, earlier(t)) for t, _ in rows]
    t0 = dt.datetime.fromisoformat(rows[0][0]).date()
    spd = 1440 // slot_min
    days = (dt.datetime.fromisoformat(rows[-1][0]).date() - t0).days + 1
    s = np.zeros(days * spd); n = np.zeros(days * spd)
    for t, v in rows:
        if v == '': continue
        T = dt.datetime.fromisoformat(t); v = max(float(v), 0.0)
        if clip and v > clip: v = clip
        i = (T.date() - t0).days * spd + (T.hour * 60 + T.minute) // slot_min
        s[i] += v; n[i] += 1
    x = np.where(n > 0, s / np.maximum(n, 1), np.nan)
    return x, spd

def per_slot(x, spd, D, f):
    out = np.full_like(x, np.nan)
    for t in range(len(x)):
        vals = [x[t - d * spd] for d in range(1, D + 1) if t - d * spd >= 0 and not np.isnan(x[t - d * spd])]
        if vals: out[t] = f(vals)
    return out

def gap(x, ref, t, k, floor):
    num = den = 0.0
    for j in range(1, k + 1):
        s = t - (k + 1 - j)
        if s < 0: continue
        v, r = x[s], ref[s]
        if np.isnan(v) or np.isnan(r) or r <= floor: continue
        w = j / k; num += w * v / r; den += w
    return num / den if den > 0 else 1.0

def wcma(x, spd, a, D, k, floor, mean=None):
    mean = per_slot(x, spd, D, np.mean) if mean is None else mean
    p = np.full_like(x, np.nan)
    for t in range(1, len(x)):
        if np.isnan(x[t - 1]) or np.isnan(mean[t]): continue
        p[t] = a * x[t - 1] + (1 - a) * mean[t] * gap(x, mean, t, k, floor)
    return p

def clearsky(x, spd, D, k, a, floor):
    env = per_slot(x, spd, D, max); mean = per_slot(x, spd, D, np.mean)
    p = np.full_like(x, np.nan)
    for t in range(1, len(x)):
        if np.isnan(x[t - 1]) or np.isnan(env[t]) or np.isnan(mean[t]): continue
        idx = min(gap(x, env, t, k, floor), 1.2)
        w = 0.5 * x[t - 1] + 0.5 * mean[t] * gap(x, mean, t, k, floor)
        p[t] = a * env[t] * idx + (1 - a) * w
    return p

def score(x, preds, floor):
    ok = ~np.isnan(x)
    for p in preds: ok &= ~np.isnan(p)
    out = []
    for p in preds:
        m = ok & (x > floor)
        out.append((100 * np.mean(np.abs(p[m] - x[m]) / x[m]), np.mean(np.abs(p[ok] - x[ok])), m.sum()))
    return out

if __name__ == '__main__':
    path, slot, clip, ratio_floor_frac = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
    x, spd = load(path, slot, clip, undo_dst=len(sys.argv) > 5 and sys.argv[5] == 'dst')
    peak = np.nanmax(x)
    rf = ratio_floor_frac * peak  # references at or below this are skipped in the ratios
    P = [x.copy() * np.nan, wcma(x, spd, 0.7, 4, 3, rf), clearsky(x, spd, 10, 1, 0.7, rf)]
    P[0][1:] = x[:-1]
    names = ['persistence', 'wcma(0.7,4,3)', 'clearsky(10,1,0.7)']
    for nm, (mape, mae, n) in zip(names, score(x, P, 0.1 * peak)):
        print(f'{nm:22s} MAPE {mape:8.2f}  MAE {mae:14.2f}  slots {n}')
    # where the error comes from: slots whose previous slot's mean reference is tiny
    mean = per_slot(x, spd, 4, np.mean)
    ok = ~np.isnan(x) & ~np.isnan(P[1]) & ~np.isnan(P[2]) & (x > 0.1 * peak)
    prev_tiny = np.zeros_like(ok); prev_tiny[1:] = (mean[:-1] < 0.01 * peak)
    for nm, p in zip(names[1:], P[1:]):
        ape = np.abs(p - x) / np.where(x > 0, x, 1)
        tot = ape[ok].sum()
        print(f'  {nm}: {100*ape[ok & prev_tiny].sum()/tot:5.1f} % of its APE from {int((ok & prev_tiny).sum())} slots whose previous slot has a 4-day mean below 1 % of peak; max prediction {np.nanmax(p):.3g}')
