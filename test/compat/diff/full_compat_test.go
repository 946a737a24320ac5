//go:build compat

package diff

func init() { fullByTag = true }
