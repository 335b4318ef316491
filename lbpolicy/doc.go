// Package lbpolicy is the vram_aware policy's decision: given the upstreams, the latest GPU report of each, and
// the model a request names, it chooses the upstream where the request will be answered soonest, and says why.
// It is a pure function of its inputs and of each upstream's State (what it remembers between requests): no
// Redis, no Caddy, no I/O, no locks, no allocation, one pass over the candidates.
//
// # The rule
//
// Only available candidates count. With no fresh report among them the fallback policy decides (Index -1).
// Otherwise each gets an estimate in seconds,
//
//	estimate = wait + load + run − saved + evict
//	run      = the node's time per MiB of model (learned, with a prior of what all candidates learned, itself
//	           with a prior of Config.RequestTime per DefaultModelMB; the time requests waited for cold loads
//	           left out) × the model's size on disk (else as loaded),
//	           × 1 + (CPUSlowdown−1) × the model's share on the CPU
//	wait     = (max(0, in flight − slots + 1) × the run of the models recently sent there − ran) ÷ slots,
//	           where ran is, when the slots are full, how long the oldest request there has surely run (since
//	           the last was sent or one ended, at most nine tenths of that run),
//	           + min(in flight, slots − 1) × a fifth of run (decoding beside the requests in the other slots)
//	load     = 0 when the model is loaded; what is left of a load an earlier request started (the herd guard);
//	           else size ÷ load speed, plus, when Ollama must unload idle models first, their size ÷ load
//	           speed (the reload their users will pay)
//	saved    = on the node a slot of which still holds the earlier prompt that this request's prompt extends
//	           (Request.Prompt), that prompt's tokens past a shared system prompt (Prompt.Shared) ÷
//	           PrefillSpeed × the model's size on disk ÷ DefaultModelMB, at most run; else 0
//	evict    = on a node where the model is resident and this request takes a slot (nothing saved): the share
//	           of the conversations coming back there that found their slot taken × (slots + 1) × the tokens
//	           they had cached there past the shared system prompt ÷ PrefillSpeed × the model's size on disk ÷
//	           DefaultModelMB; else 0; plus run where a load of another model waits for the memory of this
//	           one, the only one loaded
//
// and the lowest wins, exact ties at random. Hard limits rank below every candidate without them, whatever the
// estimates, worst first: tried (a retry of this request), not installed, cannot hold (larger than all GPU
// memory plus the node's RAM), refused (Refuse, after a retried 500 or 503), draining, no fresh report. Example, at
// the defaults:
// a 4 GiB model resident on a node with one slot and one request in flight is 10 + 0 + 10 = 20 s away, against
// 0 + 6.1 + 10 = 16.1 s on an idle node that loads it at 1000 MiB/s + 2 s: the idle node wins.
//
// Facts a report does not give take defaults, named in Decision.Defaults: slots (Config.NumParallel, Ollama's
// 1), request time, load speed (Config.LoadMBps + LoadBase), the model's size (any other report's, else
// DefaultModelMB), GPU memory (the model is assumed to need room made for it) and residency (without Ollama state
// the model is assumed not loaded). A candidate without a fresh report is estimated on these defaults.
//
// # What is learned
//
// A State learns the time a request spends in one of its node's slots per MiB of its model by Little's law (busy
// slots integrated over time ÷ the MiB of model of the requests that left them, both decayed over LearnWindow),
// and the load speed from each cold load it started to the first report that shows the model loaded.
//
// # Affinity
//
// Prompts remembers, per model and in fixed memory, a hash of each prompt Select sent and where: Prompts.Match
// finds the longest earlier prompt a new one extends, in PromptChunk pieces. That node still holds it while fewer
// than its slots of requests for the model were sent there since, as Ollama's runner with OLLAMA_MULTIUSER_CACHE
// keeps the conversations it served last, one per slot. Example, at the defaults: turn 5 of a chat that resends
// 8 000 tokens to a resident 4.4 GiB 8B saves 2.2 s on the node that served turn 4: it stays there while that
// node's wait is under 2.2 s (reason cached), and goes to an idle node otherwise.
//
// Every request sent there counts toward taking a conversation's slot, the next turns of other conversations
// too: Ollama frees the least recently used slot. Where the conversations that come back keep finding theirs
// taken, the slots hold more conversations than they can, and with one more than the slots each loses its prompt
// before its next turn: evict prices that, so that new conversations go to a node that loads the model without
// taking a slot, once the prefill they would cost there outweighs the load.
//
// # Herd guard
//
// A decision that loads a model cold holds its size on the node in the candidate's State, once per (node,
// model), until a report taken after the decision shows the model loaded, or shows no loaded model or enough
// free memory that the load would have started, or ReserveTTL passes. Later requests for the model join that load; requests for other models see the
// memory as taken. A load that must make room where one model is loaded waits until that model has no request
// left, and Ollama serves the requests that come for it meanwhile: such a request delays the load by its run,
// which evict counts.
package lbpolicy
