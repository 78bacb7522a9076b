# Makes reports/ the data package trailscope.reports, so an installed wheel ships the templates.
