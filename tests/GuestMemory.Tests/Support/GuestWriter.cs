using GuestMemory.Tests.State;

namespace GuestMemory.Tests.Support;

/// <summary>
/// A vCPU stand-in: writes whole pages and single words to the first <c>pages</c> pages (which include
/// shared, zero-written and ballooned-adjacent pages of <see cref="GuestContent"/>) until paused; a
/// live save or a migration pauses it for its final pass, and a failed migration resumes it.
/// </summary>
internal sealed class GuestWriter : IDisposable
{
    private readonly VirtualMachine _vm;
    private readonly int _pages;
    private readonly Random _random;
    private readonly Thread _thread;
    private readonly ManualResetEventSlim _paused = new(false);
    private readonly ManualResetEventSlim _running = new(true);
    private volatile bool _pause;
    private volatile bool _stop;
    private long _writes;
    private Exception? _failure;

    public GuestWriter(VirtualMachine vm, int pages, int seed)
    {
        _vm = vm;
        _pages = pages;
        _random = new Random(seed);
        _thread = new Thread(Run) { IsBackground = true, Name = "guest-writer" };
        _thread.Start();
    }

    /// <summary>Writes made so far.</summary>
    public long Writes => Interlocked.Read(ref _writes);

    /// <summary>Waits until the writer made <paramref name="count"/> more writes (no timing: counts).</summary>
    public void WaitForWrites(long count)
    {
        long target = Writes + count;
        while (Writes < target && !_paused.IsSet) Thread.Yield();
    }

    /// <summary>Stops the writer; returns once it has made its last write, or rethrows what stopped it.</summary>
    public void Pause()
    {
        _running.Reset();
        _pause = true;
        _paused.Wait();
        if (_failure != null) throw new InvalidOperationException("the guest writer failed", _failure);
    }

    /// <summary>Lets a paused writer go on.</summary>
    public void Resume()
    {
        if (_failure != null || _stop) return;
        _paused.Reset();
        _pause = false;
        _running.Set();
    }

    public void Dispose()
    {
        _stop = true;
        Pause();
        _running.Set();
        _thread.Join();
    }

    private void Run()
    {
        try
        {
            while (!_stop)
            {
                WriteUntilPaused();
                _paused.Set();
                _running.Wait();
            }
        }
        catch (Exception e)
        {
            _failure = e;
        }
        finally
        {
            _paused.Set();
        }
    }

    private void WriteUntilPaused()
    {
        byte[] page = new byte[Paging.PageSize];
        while (!_pause)
        {
            int p = _random.Next(_pages);
            if (p >= GuestContent.BalloonFirst && p < GuestContent.BalloonFirst + GuestContent.BalloonPages) continue;
            if (_random.Next(2) == 0)
            {
                _random.NextBytes(page);
                _vm.Memory.Write(GuestContent.Address(p), page);
            }
            else
            {
                _vm.Memory.WriteUInt64(GuestContent.Address(p) + (ulong)_random.Next(Paging.PageSize / 8) * 8, (ulong)_random.NextInt64());
            }
            Interlocked.Increment(ref _writes);
        }
    }
}
