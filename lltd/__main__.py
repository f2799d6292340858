from lltd.cli import main

main()
