//! Pictures people look at: colour maps, PNG previews with legends, plots.
