"""Test-wide settings.

BLAS runs single-threaded in tests: the suite's matrices are small, and with several threads on a
loaded 2-core machine OpenBLAS was seen to slow the MNIST tests down 13x. Set before NumPy loads
(the variables are read once, when the BLAS library starts); a value you export wins.
"""

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
