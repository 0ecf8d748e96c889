namespace GuestMemory.Simulation;

/// <summary>
/// A double-ended queue of guest frame numbers over one fixed array: a simulated guest's free list and
/// its balloon. Like a real guest's page allocator it hands out from the head the pages freed most
/// recently (still backed by host memory), while pages that come back from the balloon go to the tail
/// (Linux frees such pages "to tail" so they are used last). O(1), allocation-free.
/// Not thread-safe: owned by the guest.
/// </summary>
internal sealed class FrameDeque(int capacity)
{
    private readonly int[] _items = new int[Math.Max(1, capacity)];
    private int _head;

    public int Count { get; private set; }

    public void PushHead(int frame)
    {
        if (Count == _items.Length) throw new InvalidOperationException("frame list is full");
        _head = _head == 0 ? _items.Length - 1 : _head - 1;
        _items[_head] = frame;
        Count++;
    }

    public void PushTail(int frame)
    {
        if (Count == _items.Length) throw new InvalidOperationException("frame list is full");
        _items[(_head + Count) % _items.Length] = frame;
        Count++;
    }

    public int PopHead()
    {
        if (Count == 0) throw new InvalidOperationException("frame list is empty");
        int frame = _items[_head];
        _head = (_head + 1) % _items.Length;
        Count--;
        return frame;
    }

    public void Clear() => _head = Count = 0;

    /// <summary>The frames from head to tail (a copy, for tests and tools).</summary>
    public int[] ToArray()
    {
        var copy = new int[Count];
        for (int i = 0; i < Count; i++) copy[i] = _items[(_head + i) % _items.Length];
        return copy;
    }
}

/// <summary>
/// A set of guest frame numbers with O(1) add, remove and pick-by-index (for picking at random): the
/// pages a simulated guest's workload uses. Not thread-safe: owned by the guest.
/// </summary>
internal sealed class FrameSet
{
    private readonly int[] _items;
    private readonly int[] _position;

    public FrameSet(int frames)
    {
        _items = new int[frames];
        _position = new int[frames];
        Array.Fill(_position, -1);
    }

    public int Count { get; private set; }

    public int this[int index] => _items[index];

    public bool Contains(int frame) => _position[frame] >= 0;

    public void Add(int frame)
    {
        if (Contains(frame)) throw new InvalidOperationException($"frame {frame} is already in the set");
        _items[Count] = frame;
        _position[frame] = Count++;
    }

    /// <summary>Removes and returns the frame at <paramref name="index"/> (the last one takes its place).</summary>
    public int RemoveAt(int index)
    {
        int frame = _items[index];
        int last = _items[--Count];
        _items[index] = last;
        _position[last] = index;
        _position[frame] = -1;
        return frame;
    }

    public void Clear()
    {
        for (int i = 0; i < Count; i++) _position[_items[i]] = -1;
        Count = 0;
    }

    /// <summary>The frames (a copy, for tests and tools).</summary>
    public int[] ToArray() => _items.AsSpan(0, Count).ToArray();
}
