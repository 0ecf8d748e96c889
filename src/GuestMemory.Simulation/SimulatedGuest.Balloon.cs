namespace GuestMemory.Simulation;

public sealed partial class SimulatedGuest
{
    /// <summary>
    /// Under the guest lock: one batch towards the host's target. Inflating takes pages from the head of
    /// the free list only (never a used page); deflating returns the most recently ballooned pages to the
    /// tail of the free list. A batch the host refuses changes nothing on either side. Returns true while
    /// the target is still ahead and reachable.
    /// </summary>
    private bool BalloonStep()
    {
        long target = Volatile.Read(ref _target);
        if (target > _balloon.Count) return Inflate(target);
        if (target < _balloon.Count) return Deflate(target);
        return false;
    }

    private bool Inflate(long target)
    {
        int n = (int)Math.Min(Math.Min(_options.BalloonBatchPages, target - _balloon.Count), _free.Count);
        if (n == 0) return false; // every page left is used: the guest gives no more
        for (int i = 0; i < n; i++)
        {
            _batchFrames[i] = _free.PopHead();
            _batchAddresses[i] = AddressOf(_batchFrames[i]);
        }
        try
        {
            Vm.Memory.InflateBalloon(_batchAddresses.AsSpan(0, n), completed: _balloon.Count + n == target);
        }
        catch (GmmException)
        {
            for (int i = n - 1; i >= 0; i--) _free.PushHead(_batchFrames[i]);
            _balloonErrors++;
            return false;
        }
        for (int i = 0; i < n; i++)
        {
            _balloon.PushHead(_batchFrames[i]);
            _generation[_batchFrames[i]] = 0; // a ballooned page reads zero, and so it will after deflating
        }
        _inflated += n;
        return _balloon.Count < target && _free.Count > 0;
    }

    private bool Deflate(long target)
    {
        int n = (int)Math.Min(_options.BalloonBatchPages, _balloon.Count - target);
        for (int i = 0; i < n; i++)
        {
            _batchFrames[i] = _balloon.PopHead();
            _batchAddresses[i] = AddressOf(_batchFrames[i]);
        }
        try
        {
            Vm.Memory.DeflateBalloon(_batchAddresses.AsSpan(0, n));
        }
        catch (GmmException)
        {
            for (int i = n - 1; i >= 0; i--) _balloon.PushHead(_batchFrames[i]);
            _balloonErrors++;
            return false;
        }
        for (int i = 0; i < n; i++) _free.PushTail(_batchFrames[i]);
        _deflated += n;
        return _balloon.Count > target;
    }

    /// <summary>The frames in the balloon now (a copy, for tests and tools).</summary>
    public long[] BalloonedFrames()
    {
        lock (_guestLock) return Array.ConvertAll(_balloon.ToArray(), f => (long)f);
    }

    /// <summary>The frames the workload uses now (a copy, for tests and tools).</summary>
    public long[] UsedFrames()
    {
        lock (_guestLock) return Array.ConvertAll(_used.ToArray(), f => (long)f);
    }
}
