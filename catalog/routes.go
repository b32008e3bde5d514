package catalog

import "sort"

// Routes returns every route, sorted by name, so a router can prepare one pool per route at
// load time and answer each request with a single map access.
func (c *Catalog) Routes() []*Route {
	out := make([]*Route, 0, len(c.routes))
	for _, r := range c.routes {
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}
