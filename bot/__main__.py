"""`python -m bot` / `cyder-bot`."""

import sys

from bot.cli import main as _main


def main() -> None:
    sys.exit(_main())


if __name__ == "__main__":
    main()
