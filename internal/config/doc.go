// Package config is Sluice's configuration: the schema (Config and its
// parts, every default written on its field), strict decoding of YAML or
// JSON with file positions and ${VAR} expansion (Parse), pure validation
// that returns every problem with its path (Validate, Check), and the JSON
// Schema used by editors (Schema).
//
// A config is data until it is valid: nothing here opens a file, a socket or
// a goroutine. The gateway builds running state from a checked Config.
package config
