// emu.h: runs CUDA kernels on the CPU, so CI checks the very sources a GPU compiles.
//
// The execution model emulated:
// - every CUDA thread of a block is a user-space fiber with its own stack (a ten-instruction
//   switch on x86-64, POSIX ucontext elsewhere);
//   threadIdx/blockIdx/blockDim/gridDim are thread-local variables the scheduler sets
//   before it resumes a fiber;
// - __syncthreads() switches back to the block's scheduler, which resumes the next fiber;
//   when every fiber of the block waits at the barrier, a new round starts. A block in
//   which some threads have exited while others wait at a barrier is reported as an error
//   (on a GPU that is undefined behaviour: a hang or silent garbage);
// - blocks run one after another on each worker; TOYGAN_EMU_THREADS workers (default: the
//   number of cores, at most 4) take blocks from a shared counter, as SMs would;
// - __shared__ is `static thread_local`: one copy per worker, used by the block it runs;
// - atomicAdd is a real atomic (blocks on different workers may race, as on a GPU).
// Not emulated: warps (no warp primitives are used), memory ordering between blocks,
// dynamic shared memory. __shared__ storage starts zeroed here, not undefined.
#pragma once

#include <ucontext.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
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
};

// One per OS thread that runs blocks: the fibers of the block it is running.
struct Worker {
#ifdef TOYGAN_EMU_FAST_SWITCH
    void* scheduler_sp;
#else
    ucontext_t scheduler;
#endif
    std::vector<Fiber> fibers;
    std::vector<char> stacks;
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

// Runs one block to completion; returns an error message or "" on success.
inline std::string run_block(Worker* w, int n_threads) {
    w->fibers.resize(n_threads);
    if (w->stacks.size() < (size_t)n_threads * STACK_BYTES)
        w->stacks.resize((size_t)n_threads * STACK_BYTES);
    for (int t = 0; t < n_threads; ++t)
        make_fiber(w, w->fibers[t], w->stacks.data() + (size_t)t * STACK_BYTES);
    for (long round = 0;; ++round) {
        int done = 0, waiting = 0, first_done = -1, first_waiting = -1;
        for (int t = 0; t < n_threads; ++t) {
            Fiber& f = w->fibers[t];
            if (f.state == DONE) continue;
            w->current = t;
            set_thread_index(t);
            f.state = READY;
            to_fiber(w, f);
            ++w->switches;
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
            char msg[256];
            snprintf(msg, sizeof msg,
                     "barrier divergence in block (%u,%u,%u): thread %d exited while thread "
                     "%d waits at __syncthreads() (barrier round %ld)",
                     block_idx.x, block_idx.y, block_idx.z, first_done, first_waiting, round);
            return msg;
        }
    }
}

// Launches `entry` (a kernel's trampoline) over the grid; returns "" or the first error.
inline std::string launch(void (*entry)(void**), dim3 grid, dim3 block, void** args,
                          long* switches) {
    const long n_blocks = (long)grid.x * grid.y * grid.z;
    const int n_threads = (int)(block.x * block.y * block.z);
    if (n_blocks == 0 || n_threads == 0) return "";
    if (n_threads > 1024) return "more than 1024 threads per block";
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
            std::string err = run_block(&w, n_threads);
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

inline void __syncthreads() {
    emu::Worker* w = emu::worker;
    emu::Fiber& f = w->fibers[w->current];
    f.state = emu::AT_BARRIER;
    emu::to_scheduler(f);
}

inline int atomicAdd(int* address, int value) {
    return __atomic_fetch_add(address, value, __ATOMIC_RELAXED);
}
inline unsigned int atomicAdd(unsigned int* address, unsigned int value) {
    return __atomic_fetch_add(address, value, __ATOMIC_RELAXED);
}
inline unsigned int __umulhi(unsigned int a, unsigned int b) {
    return (unsigned int)(((unsigned long long)a * b) >> 32);
}
