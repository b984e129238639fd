"""`python -m laminar_pg serve ...`"""

from laminar_pg.cli import main

if __name__ == "__main__":
    main()
