using System.Collections.Concurrent;
using System.Text;
using Microsoft.Diagnostics.Runtime;

namespace GuestMemory.Tests.Support;

/// <summary>
/// Runs a stress test's workers on background threads and waits for them with a deadline. A hang (a
/// deadlock, a thread that never ends) fails the test with every managed thread's stack, taken from a
/// snapshot of this process with ClrMD, instead of a CI run that waits out its limit. The hung threads
/// are background threads and hold only the test's own manager, so the rest of the run goes on.
/// </summary>
internal static class Watchdog
{
    /// <summary>Runs every worker on its own thread; returns when all are done, or fails after <paramref name="limit"/>.</summary>
    /// <remarks>An exception in a worker fails the test (after all workers stopped) with that exception.</remarks>
    public static void Run(TimeSpan limit, params Action[] workers)
    {
        var failures = new ConcurrentQueue<Exception>();
        Thread[] threads = workers.Select((work, i) => new Thread(() =>
        {
            try { work(); }
            catch (Exception e) { failures.Enqueue(e); }
        })
        { IsBackground = true, Name = $"stress worker {i}" }).ToArray();
        foreach (Thread thread in threads) thread.Start();
        DateTime deadline = DateTime.UtcNow + limit;
        foreach (Thread thread in threads)
        {
            TimeSpan left = deadline - DateTime.UtcNow;
            if (left < TimeSpan.Zero || !thread.Join(left))
                Assert.Fail($"hang: '{thread.Name}' did not finish within {limit.TotalSeconds:0} s. Every managed thread's stack:{Environment.NewLine}{DumpStacks()}");
        }
        if (!failures.IsEmpty) throw new AggregateException(failures);
    }

    /// <summary>Runs <paramref name="action"/> and fails with every thread's stack if it takes longer than <paramref name="limit"/>.</summary>
    public static void Within(TimeSpan limit, Action action) => Run(limit, action);

    /// <summary>Every managed thread's stack in this process, from a snapshot (the process keeps running).</summary>
    public static string DumpStacks()
    {
        var text = new StringBuilder();
        try
        {
            using DataTarget target = DataTarget.CreateSnapshotAndAttach(Environment.ProcessId);
            using ClrRuntime runtime = target.ClrVersions[0].CreateRuntime();
            foreach (ClrThread thread in runtime.Threads)
            {
                if (!thread.IsAlive) continue;
                ClrStackFrame[] frames = thread.EnumerateStackTrace().Take(60).ToArray();
                if (frames.Length == 0) continue;
                text.AppendLine($"--- thread {thread.ManagedThreadId} (OS {thread.OSThreadId})");
                foreach (ClrStackFrame frame in frames)
                    if (frame.Method != null) text.AppendLine($"    {frame.Method.Type?.Name}.{frame.Method.Name}");
            }
        }
        catch (Exception e)
        {
            text.AppendLine($"(the stacks could not be taken: {e.GetType().Name}: {e.Message})");
        }
        return text.ToString();
    }
}
