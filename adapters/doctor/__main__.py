"""`python -m adapters.doctor ...` is `keras-spec doctor ...`."""

import sys

from adapters.doctor.cli import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:], prog="python -m adapters.doctor"))
