"""``python -m blockforge``: the command line, so that ``torchrun -m blockforge train ...`` works."""

from blockforge.cli import main

if __name__ == "__main__":
    main()
