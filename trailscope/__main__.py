from trailscope.cli import cli

cli()
