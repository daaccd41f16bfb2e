#!/usr/bin/env python3
"""Run a command once and print its peak resident set size in KiB (the largest of the
command and the children it waited for), for bench/run.sh.

Usage: bench/maxrss.py COMMAND [ARGS...]
"""
import resource
import subprocess
import sys

if len(sys.argv) < 2:
    print(__doc__, file=sys.stderr)
    sys.exit(2)
rc = subprocess.call(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
if rc != 0:
    sys.exit(rc)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
