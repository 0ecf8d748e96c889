namespace GuestMemory.Benchmarks;

/// <summary>
/// An <see cref="IProgress{T}"/> that reports on the calling thread, at once. (<see cref="Progress{T}"/>
/// posts to the thread pool, so its last reports could arrive after the work and its display ended.)
/// </summary>
public sealed class InlineProgress<T>(Action<T> report) : IProgress<T>
{
    /// <inheritdoc/>
    public void Report(T value) => report(value);
}
