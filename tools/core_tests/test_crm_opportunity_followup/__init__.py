# Tests only: see tests/common.py.
