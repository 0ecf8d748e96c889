namespace GuestMemory.Tests.Support;

/// <summary>A set with O(1) add, remove and pick-at-random, for reference models that hold thousands of items.</summary>
public sealed class PickList<T> where T : notnull
{
    private readonly List<T> _items = [];
    private readonly Dictionary<T, int> _index = [];

    public int Count => _items.Count;

    public IReadOnlyList<T> Items => _items;

    public bool Contains(T item) => _index.ContainsKey(item);

    public void Add(T item)
    {
        if (!_index.TryAdd(item, _items.Count)) throw new InvalidOperationException($"{item} is already in the list");
        _items.Add(item);
    }

    public bool Remove(T item)
    {
        if (!_index.Remove(item, out int at)) return false;
        T last = _items[^1];
        _items.RemoveAt(_items.Count - 1);
        if (at < _items.Count)
        {
            _items[at] = last;
            _index[last] = at;
        }
        return true;
    }

    /// <summary>Up to <paramref name="count"/> distinct items chosen by <paramref name="random"/>.</summary>
    public List<T> Pick(Random random, int count) => Sample(_items, random, count);

    /// <summary>Up to <paramref name="count"/> items at distinct positions of <paramref name="items"/>, in O(count).</summary>
    public static List<T> Sample(IReadOnlyList<T> items, Random random, int count)
    {
        count = Math.Min(count, items.Count);
        var picked = new HashSet<int>();
        var sample = new List<T>(count);
        while (sample.Count < count)
        {
            int at = random.Next(items.Count);
            if (picked.Add(at)) sample.Add(items[at]);
        }
        return sample;
    }

    /// <summary>One item chosen by <paramref name="random"/>, or false when the list is empty.</summary>
    public bool TryPick(Random random, out T item)
    {
        item = _items.Count > 0 ? _items[random.Next(_items.Count)] : default!;
        return _items.Count > 0;
    }
}
