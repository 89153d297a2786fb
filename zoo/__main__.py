"""``python -m zoo`` runs the command line."""

from zoo.cli import run

if __name__ == "__main__":
    run()
