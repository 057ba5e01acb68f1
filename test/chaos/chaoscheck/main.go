// Command chaoscheck checks the ID files of a chaos run (see package chaos)
// and prints the one-line summary; it exits 1 when the run failed.
//
//	chaoscheck [-v] DIR_OR_FILES...
//
// -v also lists each process's outages (times without IDs and their errors).
package main

import (
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/snowlease/idgen/test/chaos"
)

func main() {
	verbose := flag.Bool("v", false, "list each process's outages")
	flag.Parse()
	if flag.NArg() < 1 {
		fmt.Fprintln(os.Stderr, "usage: chaoscheck [-v] DIR_OR_FILES...")
		os.Exit(2)
	}
	var files []string
	for _, a := range flag.Args() {
		if st, err := os.Stat(a); err == nil && st.IsDir() {
			fs, err := chaos.Files(a)
			if err != nil {
				fmt.Fprintln(os.Stderr, "chaoscheck:", err)
				os.Exit(2)
			}
			files = append(files, fs...)
			continue
		}
		files = append(files, a)
	}
	r, err := chaos.Check(files)
	if err != nil {
		fmt.Fprintln(os.Stderr, "chaoscheck:", err)
		os.Exit(2)
	}
	for _, p := range r.Procs {
		fmt.Printf("%-12s pid %-7d IDs %-12d tenures %-3d outages %-3d lease losses %-3d skew %v clean %v\n",
			p.Name, p.PID, p.IDs, len(p.Tenures), len(p.Outages), len(p.LeaseLosses), p.Skew, p.Clean)
		if *verbose {
			for _, o := range p.Outages {
				fmt.Printf("    outage at %s for %v (%s, %d failed calls): %s\n",
					o.Start.Format("15:04:05.000"), o.Dur.Round(time.Millisecond), chaos.KindString(o.Kinds), o.Fails, o.Last)
			}
		}
	}
	fmt.Println(r.Summary(nil))
	if err := r.Err(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
