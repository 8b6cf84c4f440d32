//! libtorch building blocks: layers, strict weight loading, the Backbone trait.
