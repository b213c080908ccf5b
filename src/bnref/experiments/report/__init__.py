"""What the site shows, read from results files: :mod:`.pages` (the printers the docs
pages call, one module per page) and :mod:`.figures` (the SVG figures). Nothing here
trains a network or writes a results file, and no command imports it."""
