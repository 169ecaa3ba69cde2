// Command connrate is the whole-loop lab's busy legitimate client: from one
// local address (one /27) it opens complete TCP connections to a lab service
// at a fixed rate, each an HTTP/1.0 request and its status line, for a
// bounded time, and prints one line a second,
//
//	<unix ms> ok <n> fail <m>
//
// and a last line "total ok <n> fail <m> seconds <s>". Each connection's
// socket on the server leaves SYN_RECV within one round trip, so however
// busy the client is, the block rule must never see its /27 as a flood
// (test/bench/latency.sh, issue 13). It refuses targets and sources outside
// the documentation ranges, rates above 5,000 a second and runs over ten
// minutes.
package main
