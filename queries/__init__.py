# Makes queries/ the data package trailscope.queries, so an installed wheel ships the .sql files.
