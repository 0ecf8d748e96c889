using GuestMemory.Phys;

namespace GuestMemory.Simulation;

public sealed partial class SimulatedGuest
{
    /// <summary>
    /// Under the guest lock: grows the working set from the head of the free list or shrinks it (freed
    /// pages keep their content and go to the head), one batch. What it uses or grows into is reported as
    /// needed, so the part beyond its free pages shows as wanted. Returns true while the working set moves.
    /// </summary>
    private bool WorkloadStep()
    {
        long desired = WorkingSetPages;
        if (desired < _used.Count)
        {
            int shrink = (int)Math.Min(_options.WorkloadBatchPages, _used.Count - desired);
            for (int i = 0; i < shrink; i++) _free.PushHead(_used.RemoveAt(_random.Next(_used.Count)));
            _needed = _used.Count;
            return _used.Count > desired;
        }
        int grow = (int)Math.Min(_options.WorkloadBatchPages, desired - _used.Count);
        bool refused = false;
        for (int i = 0; i < grow && _free.Count > 0; i++)
        {
            int frame = _free.PopHead();
            if (!TryWrite(frame))
            {
                _free.PushHead(frame);
                refused = true;
                break;
            }
            _used.Add(frame);
        }
        _needed = desired;
        return !refused && _used.Count < desired && _free.Count > 0;
    }

    /// <summary>Under the guest lock: the workload's activity, a few used pages read back, checked and rewritten.</summary>
    private void Touch()
    {
        for (int i = 0; i < _options.TouchPagesPerTick && _used.Count > 0; i++)
        {
            int frame = _used[_random.Next(_used.Count)];
            if (!HoldsExpected(frame)) _contentErrors++;
            _checked++;
            TryWrite(frame);
        }
    }

    /// <summary>
    /// Writes the frame's next generation of content. False when the host could not back the page
    /// (the write then wrote nothing, so the frame keeps its old generation).
    /// </summary>
    private bool TryWrite(int frame)
    {
        uint next = _generation[frame] == uint.MaxValue ? 1 : _generation[frame] + 1;
        PagePattern.Fill(_page, Vm.Handle.Value, frame, next);
        try
        {
            Vm.Memory.Write(AddressOf(frame), _page);
        }
        catch (GmmException e) when (e.Error is GmmError.HitGlobalLimit or GmmError.HitVmAccountLimit)
        {
            _allocationFailures++;
            return false;
        }
        _generation[frame] = next;
        _written++;
        return true;
    }

    /// <summary>Under the guest lock: true when the frame reads exactly what the guest last wrote (zero if nothing).</summary>
    private bool HoldsExpected(int frame) => HoldsExpected(frame, Vm.Memory);

    private bool HoldsExpected(int frame, GuestPhysicalMemory memory)
    {
        memory.Read(AddressOf(frame), _page);
        PagePattern.Fill(_expected, Vm.Handle.Value, frame, _generation[frame]);
        return _page.AsSpan().SequenceEqual(_expected);
    }

    /// <summary>
    /// Checks every page of the guest against guest-physical memory: used and free pages read what the
    /// guest last wrote to them (zero if never written or deflated since), ballooned pages read zero, and
    /// a page is Ballooned in guest-physical memory exactly when the guest has it in its balloon.
    /// Returns each mismatch (empty when all is well; at most 20 are spelled out).
    /// </summary>
    public IReadOnlyList<string> VerifyContent() => VerifyContent(Vm.Memory);

    /// <summary>
    /// Checks a copy of this guest's memory the same way: the VM it was moved or restored into, while this
    /// guest is stopped. The copy must hold what the guest last wrote, page by page, balloon included.
    /// </summary>
    public IReadOnlyList<string> VerifyContent(GuestPhysicalMemory memory)
    {
        ArgumentNullException.ThrowIfNull(memory);
        var problems = new List<string>();
        int mismatches = 0;
        lock (_guestLock)
        {
            var inBalloon = new HashSet<int>(_balloon.ToArray());
            for (int frame = 0; frame < _ramPages; frame++)
            {
                string? problem = null;
                bool ballooned = memory.GetPage(AddressOf(frame)).State == GuestPageState.Ballooned;
                if (ballooned != inBalloon.Contains(frame))
                    problem = $"{Vm.Name} frame {frame}: guest says {(inBalloon.Contains(frame) ? "ballooned" : "not ballooned")}, memory says {(ballooned ? "ballooned" : "not")}";
                else if (!HoldsExpected(frame, memory))
                    problem = $"{Vm.Name} frame {frame} ({(_used.Contains(frame) ? "used" : ballooned ? "ballooned" : "free")}) does not hold generation {_generation[frame]}";
                if (problem == null) continue;
                if (++mismatches <= 20) problems.Add(problem);
            }
        }
        if (mismatches > 20) problems.Add($"... {mismatches - 20} more");
        return problems;
    }
}
