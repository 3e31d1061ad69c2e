// Package plural writes counts people read: "1 root", "2 roots". One place,
// so that no message says "1 errors" or hides behind "error(s)".
package plural

import "fmt"

// Count returns n and the noun, with an "s" unless n is 1. The nouns
// apimtls counts (certificate, root, error, warning, CA level, byte) all
// take a plain "s".
func Count(n int, noun string) string {
	if n == 1 {
		return fmt.Sprintf("1 %s", noun)
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
