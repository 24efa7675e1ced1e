"""``python -m rnnbench``."""

from rnnbench.cli import main

if __name__ == "__main__":
    main()
