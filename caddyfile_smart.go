package llmrouter

import (
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	vroute "github.com/llmrouter/caddy-llm-router/route"
)

// unmarshalRouter parses `router <name> { ... }` (syntax in UnmarshalCaddyfile's godoc).
func (h *Handler) unmarshalRouter(d *caddyfile.Dispenser) error {
	var c vroute.Config
	if !d.NextArg() {
		return d.ArgErr()
	}
	c.Name = d.Val()
	if d.NextArg() {
		return d.ArgErr()
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		var err error
		switch d.Val() {
		case "models":
			c.Models, err = appendArgs(d, c.Models)
		case "exclude":
			c.Exclude, err = appendArgs(d, c.Exclude)
		case "optimize":
			c.Optimize, err = oneArg(d)
		case "tier":
			c.Tier, err = oneArg(d)
		case "max_price_per_mtok":
			c.MaxPricePerMTok, err = parseFloat(d)
		case "explain":
			c.Explain, err = onOff(d)
		default:
			return d.Errf("unrecognized router option '%s'", d.Val())
		}
		if err != nil {
			return err
		}
	}
	if err := c.Check(); err != nil {
		return d.Err(err.Error())
	}
	h.Routers = append(h.Routers, c)
	return nil
}

// unmarshalSmart parses `smart [{ ... }]`.
func (h *Handler) unmarshalSmart(d *caddyfile.Dispenser) error {
	if d.NextArg() {
		return d.ArgErr()
	}
	s := new(vroute.SmartConfig)
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		var err error
		switch d.Val() {
		case "models":
			s.Models, err = appendArgs(d, s.Models)
		case "exclude":
			s.Exclude, err = appendArgs(d, s.Exclude)
		case "tier":
			s.Tier, err = oneArg(d)
		case "explain":
			s.Explain, err = onOff(d)
		default:
			return d.Errf("unrecognized smart option '%s'", d.Val())
		}
		if err != nil {
			return err
		}
	}
	if _, err := vroute.ParseTier(s.Tier, true); err != nil {
		return d.Err(err.Error())
	}
	h.Smart = s
	return nil
}
