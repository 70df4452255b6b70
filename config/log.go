package config

import (
	"log/slog"
	"time"
)

// Defaults shared by several blocks.
const (
	defaultConnectTimeout = Duration(10 * time.Second)
	defaultHeartbeat      = Duration(10 * time.Second)
	defaultLinger         = Duration(100 * time.Millisecond)
)

// Log configures logging.
type Log struct {
	// Level is the lowest level logged; default LogInfo.
	Level LogLevel `yaml:"level"`
	// Format is the log line format; default LogText.
	Format LogFormat `yaml:"format"`
}

func (l *Log) applyDefaults() {
	setDefault(&l.Level, LogInfo)
	setDefault(&l.Format, LogText)
}

// LogLevel is a log level name.
type LogLevel string

// Log levels.
const (
	LogDebug LogLevel = "debug"
	LogInfo  LogLevel = "info"
	LogWarn  LogLevel = "warn"
	LogError LogLevel = "error"
)

// Level returns the slog level of l; unknown or empty levels give slog.LevelInfo.
func (l LogLevel) Level() slog.Level {
	switch l {
	case LogDebug:
		return slog.LevelDebug
	case LogWarn:
		return slog.LevelWarn
	case LogError:
		return slog.LevelError
	}
	return slog.LevelInfo
}

// LogFormat is a log line format.
type LogFormat string

// Log formats.
const (
	LogText LogFormat = "text" // slog.TextHandler: key=value
	LogJSON LogFormat = "json" // slog.JSONHandler: one JSON object per line
)
