// emu.h: runs CUDA kernels on the CPU, so CI checks the very sources a GPU compiles.
//
// The execution model emulated:
// - every CUDA thread of a block is a user-space fiber with its own stack (a ten-instruction
//   switch on x86-64, POSIX ucontext elsewhere);
//   threadIdx/blockIdx/blockDim/gridDim are thread-local variables the scheduler sets
//   before it resumes a fiber;
// - __syncthreads() switches back to the block's scheduler, which resumes the next fiber;
//   when every fiber of the block waits at the barrier, a new round starts. Reported as
//   errors (on a GPU they are undefined behaviour: a hang or silent garbage): a block in
//   which some threads have exited while others wait at a barrier, and threads waiting at
//   barriers of different call sites (file and line) in the same round;
// - the fibers of a block run in an order chosen per launch by TOYGAN_EMU_ORDER: forward
//   (thread order, the default), reverse, or shuffle[:SEED] (a fresh seeded permutation
//   for every block and barrier round), so a race between barriers (one thread writes
//   what another reads with no barrier between) gives a wrong result in some order
//   whichever thread is the writer;
// - blocks run one after another on each worker; TOYGAN_EMU_THREADS workers (default: the
//   number of cores, at most 4) take blocks from a shared counter, as SMs would;
// - __shared__ is `static thread_local`: one copy per worker, used by the block it runs.
//   launch.py appends `::emu::shared_block_start(name);` to every __shared__ declaration
//   (in the copy it compiles); the first thread of a block to reach it fills the variable
//   with NaN (floating types) or the byte 0x5A (integers), as undefined as a GPU's, so a
//   read before any write shows; the block's shared variables must fit in 48 KiB;
// - launch limits as CUDA's: grid (2^31-1, 65535, 65535), block (1024, 1024, 64), 1024
//   threads, no dimension 0 (cudaErrorInvalidConfiguration);
// - atomicAdd is a real atomic (blocks on different workers may race, as on a GPU).
// Not emulated: warps (no warp primitives are used), memory ordering between blocks,
// dynamic shared memory.
#pragma once

#include <ucontext.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __shared__ static thread_local

using std::max;
using std::min;

struct uint3 {
    unsigned int x, y, z;
};
struct dim3 {
    unsigned int x, y, z;
};

namespace emu {

thread_local uint3 thread_idx, block_idx;
thread_local dim3 block_dim, grid_dim;

enum FiberState { READY, AT_BARRIER, DONE };

#if defined(__x86_64__)
// A context switch in ten instructions: save the callee-saved registers on the current
// stack, store the stack pointer in *save, load `load`, restore, return. glibc's
// swapcontext also saves the signal mask with a system call, which made it ~10x slower.
extern "C" void toygan_emu_switch(void** save, void* load);
asm(R"(
.text
.p2align 4
toygan_emu_switch:
    pushq %rbp
    pushq %rbx
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    movq %rsp, (%rdi)
    movq %rsi, %rsp
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %rbx
    popq %rbp
    ret
)");
#define TOYGAN_EMU_FAST_SWITCH 1
#endif

struct Fiber {
#ifdef TOYGAN_EMU_FAST_SWITCH
    void* sp;
#else
    ucontext_t context;
#endif
    FiberState state;
    const char* barrier_file;  // where it waits (AT_BARRIER)
    int barrier_line;
};

enum Order { FORWARD, REVERSE, SHUFFLE };

// A __shared__ variable of this worker: its storage, and the block that last filled it.
struct SharedSlot {
    void* address;
    size_t bytes;
    long block;
};

constexpr size_t MAX_SHARED_BYTES = 48 * 1024;  // static __shared__ per block

// One per OS thread that runs blocks: the fibers of the block it is running.
struct Worker {
#ifdef TOYGAN_EMU_FAST_SWITCH
    void* scheduler_sp;
#else
    ucontext_t scheduler;
#endif
    std::vector<Fiber> fibers;
    std::vector<char> stacks;
    std::vector<int> order;  // the fibers in the order of the current round
    std::vector<SharedSlot> shared;
    size_t shared_bytes = 0;  // the current block's
    long block = -1;          // the linear index of the block it runs
    int current = 0;
    void (*entry)(void**) = nullptr;
    void** args = nullptr;
    long switches = 0;
};

constexpr size_t STACK_BYTES = 64 * 1024;
thread_local Worker* worker = nullptr;

inline void to_scheduler(Fiber& f) {
#ifdef TOYGAN_EMU_FAST_SWITCH
    toygan_emu_switch(&f.sp, worker->scheduler_sp);
#else
    swapcontext(&f.context, &worker->scheduler);
#endif
}

inline void to_fiber(Worker* w, Fiber& f) {
#ifdef TOYGAN_EMU_FAST_SWITCH
    toygan_emu_switch(&w->scheduler_sp, f.sp);
#else
    swapcontext(&w->scheduler, &f.context);
#endif
}

inline void fiber_main() {
    Worker* w = worker;
    w->entry(w->args);
    Fiber& f = w->fibers[w->current];
    f.state = DONE;
#ifdef TOYGAN_EMU_FAST_SWITCH
    to_scheduler(f);  // never resumed: its block is over
    __builtin_trap();
#endif
    // (ucontext) returning resumes uc_link, the scheduler.
}

inline void make_fiber(Worker* w, Fiber& f, char* stack) {
#ifdef TOYGAN_EMU_FAST_SWITCH
    // The new stack, top down: a null return address for fiber_main, fiber_main's address
    // for the switch's `ret`, six zeroed registers for its pops. fiber_main then starts with
    // the stack aligned as after a call (rsp = 8 mod 16).
    uintptr_t top = ((uintptr_t)(stack + STACK_BYTES)) & ~(uintptr_t)15;
    void** sp = (void**)top;
    *--sp = nullptr;
    *--sp = (void*)&fiber_main;
    for (int r = 0; r < 6; ++r) *--sp = nullptr;
    f.sp = sp;
    (void)w;
#else
    getcontext(&f.context);
    f.context.uc_stack.ss_sp = stack;
    f.context.uc_stack.ss_size = STACK_BYTES;
    f.context.uc_link = &w->scheduler;
    makecontext(&f.context, fiber_main, 0);
#endif
    f.state = READY;
}

inline void set_thread_index(int t) {
    thread_idx.x = t % block_dim.x;
    thread_idx.y = (t / block_dim.x) % block_dim.y;
    thread_idx.z = t / (block_dim.x * block_dim.y);
}

// splitmix64: the shuffle order's random numbers, from (seed, block, round).
inline uint64_t mix(uint64_t x) {
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

inline void round_order(Worker* w, int n_threads, Order order, uint64_t seed, long round) {
    w->order.resize(n_threads);
    for (int t = 0; t < n_threads; ++t)
        w->order[t] = order == REVERSE ? n_threads - 1 - t : t;
    if (order != SHUFFLE) return;
    uint64_t state = mix(seed ^ mix((uint64_t)w->block ^ mix((uint64_t)round)));
    for (int t = n_threads - 1; t > 0; --t) {  // Fisher-Yates
        state = mix(state);
        std::swap(w->order[t], w->order[(int)(state % (uint64_t)(t + 1))]);
    }
}

// Runs one block to completion; returns an error message or "" on success.
inline std::string run_block(Worker* w, int n_threads, Order order, uint64_t seed) {
    w->fibers.resize(n_threads);
    if (w->stacks.size() < (size_t)n_threads * STACK_BYTES)
        w->stacks.resize((size_t)n_threads * STACK_BYTES);
    for (int t = 0; t < n_threads; ++t)
        make_fiber(w, w->fibers[t], w->stacks.data() + (size_t)t * STACK_BYTES);
    w->shared_bytes = 0;
    char msg[512];
    for (long round = 0;; ++round) {
        int done = 0, waiting = 0, first_done = -1, first_waiting = -1;
        round_order(w, n_threads, order, seed, round);
        for (int t : w->order) {
            Fiber& f = w->fibers[t];
            if (f.state == DONE) continue;
            w->current = t;
            set_thread_index(t);
            f.state = READY;
            to_fiber(w, f);
            ++w->switches;
        }
        if (w->shared_bytes > MAX_SHARED_BYTES) {
            snprintf(msg, sizeof msg,
                     "block (%u,%u,%u) uses %zu bytes of __shared__ memory, more than CUDA's "
                     "static limit of %zu", block_idx.x, block_idx.y, block_idx.z,
                     w->shared_bytes, MAX_SHARED_BYTES);
            return msg;
        }
        for (int t = 0; t < n_threads; ++t) {
            if (w->fibers[t].state == DONE) {
                ++done;
                if (first_done < 0) first_done = t;
            } else {
                ++waiting;
                if (first_waiting < 0) first_waiting = t;
            }
        }
        if (waiting == 0) return "";
        if (done > 0) {
            snprintf(msg, sizeof msg,
                     "barrier divergence in block (%u,%u,%u): thread %d exited while thread "
                     "%d waits at __syncthreads() (barrier round %ld)",
                     block_idx.x, block_idx.y, block_idx.z, first_done, first_waiting, round);
            return msg;
        }
        const Fiber& first = w->fibers[first_waiting];
        for (int t = first_waiting + 1; t < n_threads; ++t) {
            const Fiber& f = w->fibers[t];
            if (f.barrier_line != first.barrier_line ||
                strcmp(f.barrier_file, first.barrier_file) != 0) {
                snprintf(msg, sizeof msg,
                         "barrier divergence in block (%u,%u,%u): thread %d waits at "
                         "__syncthreads() at %s:%d, thread %d at %s:%d (barrier round %ld)",
                         block_idx.x, block_idx.y, block_idx.z, first_waiting,
                         first.barrier_file, first.barrier_line, t, f.barrier_file,
                         f.barrier_line, round);
                return msg;
            }
        }
    }
}

// TOYGAN_EMU_ORDER: forward (default), reverse, shuffle or shuffle:SEED; "" or an error.
inline std::string parse_order(Order* order, uint64_t* seed) {
    *order = FORWARD;
    *seed = 0;
    const char* env = getenv("TOYGAN_EMU_ORDER");
    if (env == nullptr || *env == '\0' || strcmp(env, "forward") == 0) return "";
    if (strcmp(env, "reverse") == 0) {
        *order = REVERSE;
        return "";
    }
    if (strncmp(env, "shuffle", 7) == 0 && (env[7] == '\0' || env[7] == ':')) {
        *order = SHUFFLE;
        if (env[7] == '\0') return "";
        char* end = nullptr;
        *seed = strtoull(env + 8, &end, 10);
        if (env[8] >= '0' && env[8] <= '9' && *end == '\0') return "";
    }
    return std::string("TOYGAN_EMU_ORDER=") + env +
           ": use forward, reverse, shuffle or shuffle:SEED (a non-negative integer)";
}

// CUDA's launch limits (compute capability 9.0); "" or the cudaErrorInvalidConfiguration.
inline std::string check_limits(dim3 grid, dim3 block) {
    const unsigned grid_max[3] = {2147483647u, 65535u, 65535u};
    const unsigned block_max[3] = {1024u, 1024u, 64u};
    const unsigned g[3] = {grid.x, grid.y, grid.z}, b[3] = {block.x, block.y, block.z};
    char msg[160];
    for (int axis = 0; axis < 3; ++axis) {
        if (g[axis] < 1 || g[axis] > grid_max[axis]) {
            snprintf(msg, sizeof msg, "grid dimension %c is %u, outside 1..%u "
                     "(cudaErrorInvalidConfiguration)", "xyz"[axis], g[axis], grid_max[axis]);
            return msg;
        }
        if (b[axis] < 1 || b[axis] > block_max[axis]) {
            snprintf(msg, sizeof msg, "block dimension %c is %u, outside 1..%u "
                     "(cudaErrorInvalidConfiguration)", "xyz"[axis], b[axis], block_max[axis]);
            return msg;
        }
    }
    if ((long)block.x * block.y * block.z > 1024)
        return "more than 1024 threads per block (cudaErrorInvalidConfiguration)";
    return "";
}

// Launches `entry` (a kernel's trampoline) over the grid; returns "" or the first error.
inline std::string launch(void (*entry)(void**), dim3 grid, dim3 block, void** args,
                          long* switches) {
    std::string problem = check_limits(grid, block);
    Order order;
    uint64_t seed;
    if (problem.empty()) problem = parse_order(&order, &seed);
    if (!problem.empty()) return problem;
    const long n_blocks = (long)grid.x * grid.y * grid.z;
    const int n_threads = (int)(block.x * block.y * block.z);
    int n_workers = (int)std::min<unsigned>(4, std::max(1u, std::thread::hardware_concurrency()));
    if (const char* env = getenv("TOYGAN_EMU_THREADS")) n_workers = std::max(1, atoi(env));
    n_workers = (int)std::min<long>(n_workers, n_blocks);

    std::atomic<long> next{0};
    std::atomic<bool> failed{false};
    std::atomic<long> total_switches{0};
    std::vector<std::string> errors(n_workers);
    auto work = [&](int id) {
        Worker w;
        w.entry = entry;
        w.args = args;
        worker = &w;
        block_dim = block;
        grid_dim = grid;
        for (long b; !failed.load() && (b = next.fetch_add(1)) < n_blocks;) {
            block_idx.x = (unsigned)(b % grid.x);
            block_idx.y = (unsigned)((b / grid.x) % grid.y);
            block_idx.z = (unsigned)(b / ((long)grid.x * grid.y));
            w.block = b;
            std::string err = run_block(&w, n_threads, order, seed);
            if (!err.empty()) {
                errors[id] = err;
                failed.store(true);
            }
        }
        total_switches += w.switches;
        worker = nullptr;
    };
    std::vector<std::thread> others;
    for (int id = 1; id < n_workers; ++id) others.emplace_back(work, id);
    work(0);
    for (auto& t : others) t.join();
    *switches += total_switches.load();
    for (auto& e : errors)
        if (!e.empty()) return e;
    return "";
}

// Calls a kernel with its arguments unpacked from the void* array CUDA launches use.
template <typename... A, size_t... I>
void call_unpacked(void (*kernel)(A...), void** args, std::index_sequence<I...>) {
    kernel(*static_cast<std::remove_reference_t<A>*>(args[I])...);
}

template <typename... A>
void call_with_args(void (*kernel)(A...), void** args) {
    call_unpacked(kernel, args, std::index_sequence_for<A...>{});
}

template <auto Kernel>
void trampoline(void** args) {
    call_with_args(Kernel, args);
}

}  // namespace emu

#define threadIdx (::emu::thread_idx)
#define blockIdx (::emu::block_idx)
#define blockDim (::emu::block_dim)
#define gridDim (::emu::grid_dim)

// The default arguments are the caller's file and line: the barrier's call site.
inline void __syncthreads(const char* file = __builtin_FILE(), int line = __builtin_LINE()) {
    emu::Worker* w = emu::worker;
    emu::Fiber& f = w->fibers[w->current];
    f.state = emu::AT_BARRIER;
    f.barrier_file = file;
    f.barrier_line = line;
    emu::to_scheduler(f);
}

namespace emu {

// Called where a __shared__ variable is declared (launch.py appends the call): the first
// thread of each block to get there fills it with garbage, NaN for floating types.
template <typename T>
void shared_block_start(T& variable) {
    Worker* w = worker;
    void* address = static_cast<void*>(&variable);
    SharedSlot* slot = nullptr;
    for (SharedSlot& s : w->shared)
        if (s.address == address) slot = &s;
    if (slot == nullptr) {
        w->shared.push_back(SharedSlot{address, sizeof(T), -1});
        slot = &w->shared.back();
    }
    if (slot->block == w->block) return;
    slot->block = w->block;
    w->shared_bytes += sizeof(T);
    using Element = std::remove_all_extents_t<T>;
    if constexpr (std::is_floating_point_v<Element>) {
        Element* first = reinterpret_cast<Element*>(address);
        std::fill(first, first + sizeof(T) / sizeof(Element),
                  std::numeric_limits<Element>::quiet_NaN());
    } else {
        memset(address, 0x5A, sizeof(T));
    }
}

}  // namespace emu

inline int atomicAdd(int* address, int value) {
    return __atomic_fetch_add(address, value, __ATOMIC_RELAXED);
}
inline unsigned int atomicAdd(unsigned int* address, unsigned int value) {
    return __atomic_fetch_add(address, value, __ATOMIC_RELAXED);
}
inline unsigned int __umulhi(unsigned int a, unsigned int b) {
    return (unsigned int)(((unsigned long long)a * b) >> 32);
}
