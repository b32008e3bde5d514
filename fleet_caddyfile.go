package llmrouter

import (
	"strconv"

	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
)

func init() {
	httpcaddyfile.RegisterGlobalOption("llm_router_state", parseStateOption)
}

// parseStateOption makes the llm_router_state app from its global option.
func parseStateOption(d *caddyfile.Dispenser, _ any) (any, error) {
	app := new(StateApp)
	if err := app.UnmarshalCaddyfile(d); err != nil {
		return nil, err
	}
	return httpcaddyfile.App{Name: "llm_router_state", Value: caddyconfig.JSON(app, nil)}, nil
}

// UnmarshalCaddyfile sets up the shared state from the `llm_router_state` global option.
// Syntax (every value takes {env.X} and {file.X}, resolved when the config loads):
//
//	{
//	    llm_router_state {
//	        redis {
//	            address <host:port>...         # repeatable; default localhost:6379
//	            cluster                        # the addresses are Redis Cluster nodes
//	            sentinel <master-name>         # the addresses are Sentinels watching this master
//	            username <user>
//	            password <password>            # write it as {env.X} or {file.X}
//	            sentinel_username <user>
//	            sentinel_password <password>
//	            db <n>                         # default 0
//	            tls                            # TLS with the system's roots, or:
//	            tls {
//	                ca <pem-file>              # trusted in addition to the system's roots
//	                client_auth <cert> <key>   # mutual TLS
//	                server_name <name>
//	                insecure_skip_verify
//	            }
//	            prefix <prefix>                # default llm_router:
//	            dial_timeout <duration>        # default 50ms
//	            read_timeout <duration>        # default 50ms
//	            write_timeout <duration>       # default 50ms
//	            pool_size <n>                  # default 10 per CPU
//	            flush_interval <duration>      # usage counters; default 1s
//	            usage_retention <duration>     # default 840h (35 days)
//	        }
//	    }
//	}
func (a *StateApp) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // the option's name
	if d.NextArg() {
		return d.ArgErr()
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		switch d.Val() {
		case "redis":
			if a.Redis != nil {
				return d.Err("redis given twice")
			}
			if d.NextArg() {
				return d.ArgErr()
			}
			a.Redis = new(RedisConfig)
			if err := a.Redis.unmarshal(d); err != nil {
				return err
			}
		default:
			return d.Errf("unknown llm_router_state option '%s'", d.Val())
		}
	}
	return nil
}

func (c *RedisConfig) unmarshal(d *caddyfile.Dispenser) error {
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		var err error
		switch opt := d.Val(); opt {
		case "address":
			args := d.RemainingArgs()
			if len(args) == 0 {
				return d.ArgErr()
			}
			c.Addresses = append(c.Addresses, args...)
		case "cluster":
			if d.NextArg() {
				return d.ArgErr()
			}
			c.Cluster = true
		case "sentinel":
			c.SentinelMaster, err = oneArg(d)
		case "username":
			c.Username, err = oneArg(d)
		case "password":
			c.Password, err = oneArg(d)
		case "sentinel_username":
			c.SentinelUsername, err = oneArg(d)
		case "sentinel_password":
			c.SentinelPassword, err = oneArg(d)
		case "db":
			var s string
			if s, err = oneArg(d); err == nil {
				if c.DB, err = strconv.Atoi(s); err != nil || c.DB < 0 {
					return d.Errf("bad db '%s'", s)
				}
			}
		case "pool_size":
			var s string
			if s, err = oneArg(d); err == nil {
				if c.PoolSize, err = strconv.Atoi(s); err != nil || c.PoolSize < 1 {
					return d.Errf("bad pool_size '%s'", s)
				}
			}
		case "prefix":
			c.Prefix, err = oneArg(d)
		case "dial_timeout":
			c.DialTimeout, err = parseDuration(d)
		case "read_timeout":
			c.ReadTimeout, err = parseDuration(d)
		case "write_timeout":
			c.WriteTimeout, err = parseDuration(d)
		case "flush_interval":
			c.FlushInterval, err = parseDuration(d)
		case "usage_retention":
			c.UsageRetention, err = parseDuration(d)
		case "tls":
			if d.NextArg() {
				return d.ArgErr()
			}
			c.TLS = new(RedisTLS)
			err = c.TLS.unmarshal(d)
		default:
			return d.Errf("unknown redis option '%s'", opt)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func (t *RedisTLS) unmarshal(d *caddyfile.Dispenser) error {
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		var err error
		switch opt := d.Val(); opt {
		case "ca":
			t.CA, err = oneArg(d)
		case "client_auth":
			if !d.Args(&t.Cert, &t.Key) || d.NextArg() {
				return d.ArgErr()
			}
		case "server_name":
			t.ServerName, err = oneArg(d)
		case "insecure_skip_verify":
			if d.NextArg() {
				return d.ArgErr()
			}
			t.InsecureSkipVerify = true
		default:
			return d.Errf("unknown redis tls option '%s'", opt)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// Interface guard
var _ caddyfile.Unmarshaler = (*StateApp)(nil)
