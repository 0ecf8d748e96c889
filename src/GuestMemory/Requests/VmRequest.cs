namespace GuestMemory.Requests;

/// <summary>
/// A request to a VM (seed: the VM request interface, like VMReq): it checks that a precondition
/// still holds, does the update, and makes sure no thread keeps using what the update replaced
/// ("flush translations"). It runs under the VM's lock, on whichever thread holds that lock next or on
/// the VM's own worker; the sender may wait for it or go on.
/// </summary>
internal abstract class VmRequest
{
    private readonly ManualResetEventSlim _done = new(false);

    /// <summary>True once the request has run (successfully or not).</summary>
    public bool IsCompleted => _done.IsSet;

    /// <summary>The exception the request ended with, or null.</summary>
    public Exception? Error { get; private set; }

    /// <summary>Does the work. Called exactly once, under the VM's lock.</summary>
    protected abstract void Execute();

    /// <summary>Blocks until the request has run; rethrows the exception it ended with.</summary>
    public void Wait()
    {
        _done.Wait();
        if (Error != null) throw Error;
    }

    /// <summary>Makes a completed request ready to be submitted again (senders reuse them to avoid allocating).</summary>
    protected void Rearm()
    {
        if (!_done.IsSet) throw new InvalidOperationException("a request can be re-armed only after it ran");
        Error = null;
        _done.Reset();
    }

    internal void Run()
    {
        try
        {
            Execute();
        }
        catch (Exception e)
        {
            Error = e;
        }
        _done.Set();
    }
}
