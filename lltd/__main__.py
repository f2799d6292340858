from lltd.entry import main

main()
