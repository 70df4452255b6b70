package config

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
)

// maxSecretFile bounds what a file: secret may hold, so that a path to the
// wrong file fails clearly instead of reading a log or a disk image.
const maxSecretFile = 64 << 10

// resolveString expands ${VAR} references in raw. For a Secret, a value
// starting with "file:" names a file (itself expanded) whose contents, with
// trailing newlines trimmed, are the value. The file: prefix is checked
// before expansion, so a variable whose value starts with "file:" is taken
// literally.
func resolveString(raw string, secret bool, env func(string) (string, bool)) (string, error) {
	rest, isFile := strings.CutPrefix(raw, "file:")
	if !secret || !isFile {
		return expandEnv(raw, env)
	}
	path, err := expandEnv(rest, env)
	if err != nil {
		return "", err
	}
	return readSecretFile(path)
}

func readSecretFile(path string) (string, error) {
	if path == "" {
		return "", errors.New(`"file:" needs a path, as in file:/run/secrets/db-password`)
	}
	// Read at most one byte past the limit: a path to /dev/zero or a huge
	// file must fail, not fill the memory.
	f, err := os.Open(path)
	var data []byte
	if err == nil {
		data, err = io.ReadAll(io.LimitReader(f, maxSecretFile+1))
		f.Close()
	}
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return "", fmt.Errorf("cannot read secret file %s: %v; create it or fix the path after file:", path, err)
	}
	if len(data) > maxSecretFile {
		return "", fmt.Errorf("secret file %s holds more than the %d bytes a secret may have; is it the right file?", path, maxSecretFile)
	}
	return strings.TrimRight(string(data), "\r\n"), nil
}

// expandEnv replaces ${VAR} and ${VAR:-default} in s with values from env.
// The default is used when VAR is unset or empty, and is taken literally (no
// nested ${...}). "$${" stands for a literal "${"; any other "$" is literal.
// A reference to an unset variable without a default is an error, as is an
// unterminated "${" or an invalid variable name. Errors never quote s, which
// may be a secret.
func expandEnv(s string, env func(string) (string, bool)) (string, error) {
	if !strings.Contains(s, "${") {
		return s, nil
	}
	var b strings.Builder
	for {
		i := strings.Index(s, "${")
		if i < 0 {
			b.WriteString(s)
			return b.String(), nil
		}
		if i > 0 && s[i-1] == '$' { // "$${": a literal "${"
			b.WriteString(s[:i-1] + "${")
			s = s[i+2:]
			continue
		}
		b.WriteString(s[:i])
		end := strings.IndexByte(s[i:], '}')
		if end < 0 {
			return "", errors.New(`"${" without a closing "}"; close the reference, or write "$${" for a literal "${"`)
		}
		val, err := lookupRef(s[i+2:i+end], env)
		if err != nil {
			return "", err
		}
		b.WriteString(val)
		s = s[i+end+1:]
	}
}

// lookupRef resolves the inside of one ${...}: "VAR" or "VAR:-default".
func lookupRef(ref string, env func(string) (string, bool)) (string, error) {
	name, def, hasDef := strings.Cut(ref, ":-")
	if !validEnvName(name) {
		return "", errors.New(`a "${...}" reference holds no valid environment variable name; use letters, digits and _, not starting with a digit, or write "$${" for a literal "${"`)
	}
	val, set := env(name)
	switch {
	case hasDef && val == "":
		return def, nil
	case !set:
		return "", fmt.Errorf("environment variable %s is not set; export it, or give a default with ${%s:-value}", name, name)
	}
	return val, nil
}

func validEnvName(s string) bool {
	for i, r := range s {
		letter := r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z'
		if !letter && (i == 0 || r < '0' || r > '9') {
			return false
		}
	}
	return s != ""
}
