package llmrouter

import (
	"github.com/llmrouter/caddy-llm-router/catalog"
)

// loadPrices reads the price files and fills in the metadata of every public model from
// them, where the config did not set it. It keeps the configured metadata by name for models
// found later (discovered ones).
func (h *Handler) loadPrices(resolve func(string) string, configs []catalog.Config) error {
	h.configInfo = make(map[string]catalog.ModelInfo)
	for _, c := range configs {
		for _, mi := range c.Models {
			if _, ok := h.configInfo[mi.Name]; !ok {
				h.configInfo[mi.Name] = mi
			}
		}
	}
	h.prices = nil
	for _, path := range h.PriceFiles {
		ps, err := catalog.LoadPriceFile(resolve(path))
		if err != nil {
			return err
		}
		h.prices = append(h.prices, ps)
	}
	for _, m := range h.cat.Models {
		for _, ps := range h.prices {
			if mi, ok := ps.Lookup(m.Info.Name, m.Route.Targets); ok {
				m.Info.FillFrom(mi)
				break
			}
		}
	}
	return nil
}
