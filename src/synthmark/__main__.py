"""``python -m synthmark`` runs the command line."""

from synthmark.cli.main import main

if __name__ == "__main__":
    main()
