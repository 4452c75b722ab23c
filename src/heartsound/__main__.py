from heartsound.cli import main

raise SystemExit(main())
