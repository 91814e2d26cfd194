from printd.cli import main

main()
