"""`python -m hpsearch` is the same program as the `hpsearch` console script."""

from hpsearch.cli import main

if __name__ == "__main__":
    main()
