using System.Diagnostics;

namespace GuestMemory.Benchmarks;

/// <summary>
/// A guest that keeps rewriting a region of its RAM at a fixed rate (every page gets fresh content,
/// never zero), page after page round the region, in bursts every millisecond, until it is paused.
/// Pausing waits for the burst in progress (a few pages): a migration's pause callback.
/// </summary>
public sealed class RateLimitedWriter : IDisposable
{
    private readonly VirtualMachine _vm;
    private readonly long _pages;
    private readonly double _pagesPerSecond;
    private readonly SemaphoreSlim _running = new(1, 1);
    private readonly Thread _thread;
    private volatile bool _stop;
    private bool _paused;
    private long _written;
    private Exception? _failure;

    /// <param name="vm">The guest.</param>
    /// <param name="regionBytes">Bytes from guest address 0 that it rewrites.</param>
    /// <param name="bytesPerSecond">How fast.</param>
    public RateLimitedWriter(VirtualMachine vm, long regionBytes, double bytesPerSecond)
    {
        _vm = vm;
        _pages = regionBytes >> Paging.PageShift;
        _pagesPerSecond = bytesPerSecond / Paging.PageSize;
        _thread = new Thread(Run) { IsBackground = true, Name = "guest-writer" };
        if (_pages > 0 && _pagesPerSecond > 0) _thread.Start();
    }

    /// <summary>Pages written so far.</summary>
    public long PagesWritten => Interlocked.Read(ref _written);

    /// <summary>Stops the guest: returns once its current burst is done.</summary>
    public void Pause()
    {
        _running.Wait();
        _paused = true;
    }

    /// <summary>Lets it run again.</summary>
    public void Resume()
    {
        _paused = false;
        _running.Release();
    }

    public void Dispose()
    {
        _stop = true;
        if (_paused) Resume();
        if (_thread.IsAlive) _thread.Join();
        if (_failure != null) throw new InvalidOperationException("the guest writer failed", _failure);
    }

    private void Run()
    {
        byte[] page = new byte[Paging.PageSize];
        long start = Stopwatch.GetTimestamp(), next = 0;
        try
        {
            while (!_stop)
            {
                Thread.Sleep(1);
                long due = (long)(Stopwatch.GetElapsedTime(start).TotalSeconds * _pagesPerSecond);
                next = Math.Max(next, due - (long)(_pagesPerSecond / 100)); // after a pause, no catching up beyond 10 ms of writes
                _running.Wait();
                try
                {
                    for (; next < due && !_stop; next++)
                    {
                        MigrationWorkload.KnownPage(-1, next, page);
                        _vm.Memory.Write((ulong)(next % _pages) << Paging.PageShift, page);
                        Interlocked.Increment(ref _written);
                    }
                }
                finally
                {
                    _running.Release();
                }
            }
        }
        catch (GmmException e) when (e.Error == GmmError.VmDestroyed)
        {
            // moved away: the guest runs elsewhere now
        }
        catch (Exception e)
        {
            _failure = e;
        }
    }
}
