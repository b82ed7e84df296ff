from mixassist.cli import main

main()
