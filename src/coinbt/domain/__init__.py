"""Value types shared by every layer: intervals, candles, execution settings, results."""
