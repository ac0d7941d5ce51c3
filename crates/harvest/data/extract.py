"""Rebuilds the CSV files of this folder from the wheels named in SOURCE.md.

Usage: python3 extract.py PVLIB_DATA_DIR PVANALYTICS_DATA_DIR   (needs numpy, pandas, pyarrow)
"""
import csv
import sys
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).parent
NOMINAL_YEAR = 2001  # a typical year has no year of its own; 2001 is not a leap year


def write(name, header, rows):
    with open(HERE / name, "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(header)
        w.writerows(rows)


def tmy3(src, name):
    # Line 1: station metadata; line 2: header; then 8,760 hour-ending rows in local standard time.
    with open(src, newline="") as f:
        rows = list(csv.reader(f))[2:]
    out = []
    for i, r in enumerate(rows):
        t = pd.Timestamp(NOMINAL_YEAR, 1, 1) + pd.Timedelta(hours=i)  # hour beginning
        assert int(r[1][:2]) % 24 == (t.hour + 1) % 24, (src, i, r[:2])
        out.append((t.strftime("%Y-%m-%dT%H:%M"), r[4]))  # GHI (W/m^2)
    write(name, ("timestamp", "ghi_w_m2"), out)


def tmy2(src, name):
    # Fixed width: year 2-3, month 4-5, day 6-7, hour (ending) 8-9, ..., GHI 18-21 (1-based).
    lines = Path(src).read_text().splitlines()[1:]
    out = []
    for i, line in enumerate(lines):
        t = pd.Timestamp(NOMINAL_YEAR, 1, 1) + pd.Timedelta(hours=i)
        assert int(line[7:9]) % 24 == (t.hour + 1) % 24, (src, i, line[:9])
        out.append((t.strftime("%Y-%m-%dT%H:%M"), int(line[17:21])))
    write(name, ("timestamp", "ghi_w_m2"), out)


def system50(src, name):
    df = pd.read_parquet(src)
    out = []
    for t, v in zip(df["measured_on"], df["ac_power_2"]):
        if pd.isna(v):
            s = ""
        elif v == 0:
            s = "0"
        else:
            # The shortest text that reads back as the same float32: lossless, because the
            # standby readings of a few hundredths of a watt decide how far WCMA's ratios explode.
            s = str(np.float32(v))
        out.append((t.strftime("%Y-%m-%dT%H:%M"), s))
    write(name, ("timestamp", "ac_power_w"), out)


def main():
    pvlib, pva = Path(sys.argv[1]), Path(sys.argv[2])
    tmy3(pvlib / "703165TY.csv", "tmy3_sand_point_ak_ghi_hourly.csv")
    tmy3(pvlib / "723170TYA.CSV", "tmy3_greensboro_nc_ghi_hourly.csv")
    tmy2(pvlib / "12839.tm2", "tmy2_miami_fl_ghi_hourly.csv")
    system50(pva / "system_50_ac_power_2_full_DST.parquet", "pvdaq_system50_ac_power_15min.csv")


if __name__ == "__main__":
    main()
