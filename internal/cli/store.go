package cli

import (
	"errors"
	"fmt"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/apimtls/apimtls/internal/plural"
	"github.com/apimtls/apimtls/pki"
)

func storeCommand() *cli.Command {
	return &cli.Command{
		Name:        "store",
		Usage:       "repair the PKI directory's inventory, copy it into a shared S3 store, or check that store",
		Subcommands: []*cli.Command{storeRebuildCommand(), storeMigrateCommand(), storeCheckCommand()},
	}
}

func storeRebuildCommand() *cli.Command {
	return &cli.Command{
		Name:      "rebuild",
		Usage:     "rebuild a damaged inventory.db from the certificate files",
		ArgsUsage: " ",
		Description: `The inventory (inventory.db) indexes the certificates of the PKI directory;
the files under ca/ and clients/ are the source of truth. When the inventory
is damaged (truncated, overwritten, corrupted), this command moves it aside
to inventory.db.damaged-TIME, never deleting it, and records every
certificate found in ca/NAME/cert.pem and clients/NAME/cert.pem anew. It
refuses to replace an inventory that opens and reads.

Example:
   apimtls store rebuild`,
		Action: func(c *cli.Context) error {
			format, err := startNoArgs(c)
			if err != nil {
				return err
			}
			if err := refuseShared(c, "a shared store has no inventory.db to rebuild; to rebuild this machine's, unset "+envStore+" (or drop --"+flagStore+"), or set a profile's store aside: apimtls store rebuild --"+flagStore+"= (docs/config.md)"); err != nil {
				return err
			}
			dir, err := pkiDir(c)
			if err != nil {
				return err
			}
			res, err := pki.RebuildInventory(dir, time.Now())
			if errors.Is(err, pki.ErrInventoryIntact) {
				return withHint(err, "nothing to repair; see it with: apimtls ca list")
			}
			if err != nil {
				return err
			}
			if format == outputJSON {
				return writeJSON(c.App.Writer, res)
			}
			w := c.App.Writer
			fmt.Fprintf(w, "Rebuilt %s: %s, %s\n", pki.Layout{Dir: dir}.Inventory(), plural.Count(res.CAs, "CA"), plural.Count(res.Clients, "client"))
			if res.DamagedKept != "" {
				fmt.Fprintf(w, "the damaged inventory is kept at %s\n", res.DamagedKept)
			}
			printNotes(w, res.Notes)
			fmt.Fprintln(w, "next: apimtls ca list")
			return nil
		},
	}
}

// inventoryHint adds the way out to an error about a damaged inventory.
func inventoryHint(err error) error {
	if errors.As(err, new(*pki.InventoryDamagedError)) {
		return withHint(err, "the certificate files are intact: rebuild the inventory from them with: apimtls store rebuild (the damaged file is kept aside)")
	}
	return err
}
