package enrich

import "context"

// RefreshNow runs one refresh of t, as Run does on each tick.
func RefreshNow(ctx context.Context, t *Table) { t.refresh(ctx) }
