import sys

from trailscope.synthetic.generate import main

sys.exit(main())
