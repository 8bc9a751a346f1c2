"""From a photo to a vessel mask: settings, prediction (tiles, TTA), the cut,
post-processing, the calibre scale, and the one ``segment`` that strings them."""
